"""What the documentation promises: README.md and README.ko.md, the notebooks, and benchmarks/run.py on tiny
networks."""
