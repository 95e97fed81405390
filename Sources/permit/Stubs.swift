import ArgumentParser
struct Seal: ParsableCommand {}
struct Inspect: ParsableCommand {}
