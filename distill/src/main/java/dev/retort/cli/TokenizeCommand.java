package dev.retort.cli;

import dev.retort.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code retort tokenize --model DIR TEXT}: the token ids, space-separated on one line (BOS when the config adds it). */
@Command(name = "tokenize", mixinStandardHelpOptions = true, description = "Print the token ids of a text.")
final class TokenizeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Model directory (tokenizer.json or tokenizer.model) or GGUF file.")
    Path model;

    @Parameters(index = "0", description = "The text to tokenize.")
    String text;

    @Override
    public Integer call() throws IOException {
        int[] ids = Tokenizers.load(model).encode(text);   // a bad directory or file: one line naming it
        System.out.println(Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        return 0;
    }
}
