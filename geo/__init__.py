"""gridward domain and storage: places, people, patrols. Usable without HTTP."""
