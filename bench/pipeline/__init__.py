"""The run pipeline: plan units, execute them (serially, over processes, on Ray, by shard), store typed records, publish."""
