"""Staffing: who looks after which grid, street and alley (issue 5).

Pure functions over GeoDataFrames and arrays, no database:

- :mod:`geo.assign.people` — read the people registry (CSV/XLSX, Chinese or English headers).
- :mod:`geo.assign.stewards` — alley stewards (小巷管家): coverage, fair loads, short walks.
- :mod:`geo.assign.chiefs` — street chiefs (街巷长), up to N streets each.
- :mod:`geo.assign.grids` — grid staffing "1+N" (网格长 + 专职网格员 by household ratio).
- :mod:`geo.assign.coverage` — coverage rates (覆盖率) by community / subdistrict / district.
- :mod:`geo.assign.balanced` — the shared solver (min-cost flow with slope scaling + local search).
- :mod:`geo.assign.reach`, :mod:`geo.assign.walk` — walking distances along the network.
- :mod:`geo.assign.fill_idle` — what the take-over option says where duties are kept.
- :mod:`geo.assign.level` — the take-over option's levelling: chains of hand-ons and swaps.
- :mod:`geo.assign.baselines` — greedy and Hungarian references for benchmarks.
"""
