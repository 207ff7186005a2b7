"""Benchmarks: each module has `async def main()` printing `bench <name> <value> <unit>` lines."""
