import ArgumentParser

@main
struct Kiln: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "Run large language models on the CPU: generate text from GGUF files and Hugging Face checkpoints.",
        subcommands: [
            Serve.self, Generate.self, BuildCommand.self, BenchCommand.self, Inspect.self, Perplexity.self, Tokenize.self,
            ChatTemplateCommand.self, ParallelCheck.self, CacheCommand.self,
        ]
    )
}
