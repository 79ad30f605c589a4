"""Running a model over many inputs: gathering them in order, the local engine, the Dask engine."""
