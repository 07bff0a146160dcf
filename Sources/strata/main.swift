import StrataCLI

await Strata.runMain()
