#!/usr/bin/env bash
# The benchmark harness arrives with the benchmark issue (#3).
echo "no benchmarks yet"
