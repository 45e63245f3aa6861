"""Reference data and the rules kept as data: the registry of sections, points, stations and
bureaus, and the standards' tables with their effective periods."""
