func runRenderBench() throws {}
