"""`make bench` runs `python -m benchmarks`. Placeholder until the first workloads land (see README.md)."""


def main() -> int:
    print("no benchmarks yet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
