"""Assessment: the standards' calculations (surface water, seawater, air, cross-boundary schemes,
trends), the day's assessment and rollups built from them, and the calculator behind `envmon classify`."""
