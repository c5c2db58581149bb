import ArgumentParser
import Unmask

struct UnmaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unmask",
        abstract: "Masked (absorbing-state) discrete diffusion language models on the CPU.",
        version: "0.1.0",
        subcommands: [
            TokenizeCommand.self,
            DetokenizeCommand.self,
            TokenizerCommand.self,
            InfoCommand.self,
            ConvertCommand.self,
            TrainCommand.self,
            EvalCommand.self,
            GenerateCommand.self,
            CompareCommand.self,
            ClassifierCommand.self,
            BenchCommand.self,
        ]
    )
}
