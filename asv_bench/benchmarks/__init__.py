"""airspeed velocity benchmarks of numbadrop (run ``asv`` from ``asv_bench/``)."""
