"""Berth benchmarks: `make bench` (quick sizes) or `make bench FULL=1` (full sizes).

Every benchmark measures Berth beside a raw baseline doing the same work directly,
in the same run, and reports berth/baseline against a target. Results go to
bench/results.json and bench/results.md, and into README.md between the
`<!-- bench:start -->` and `<!-- bench:end -->` markers.
"""
