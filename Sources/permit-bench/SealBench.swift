func runSealBench() throws {}
