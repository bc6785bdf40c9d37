"""folium page builders: viewer, editor and patrol maps. Reads through geo, never writes."""
