package dev.retort.cli;

import dev.retort.distill.qa.ContextIndex;
import dev.retort.distill.qa.Contexts;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code retort index --docs FILE|DIR --out INDEX}: an on-disk BM25 index (Apache Lucene) of a collection's
 * contexts, cut as {@code synthesize} cuts them, for {@code answer} and {@code eval-qa}. Last line:
 * {@code index: N contexts from DOCS in INDEX}.
 */
@Command(name = "index", mixinStandardHelpOptions = true, description = "Build a BM25 (Lucene) index of a document collection's contexts.")
final class IndexCommand implements Callable<Integer> {
    @Option(names = "--docs", required = true, description = "Documents: a directory of text files, a JSONL file of {\"id\", \"text\"}, or one text file.")
    Path docs;

    @Option(names = "--out", required = true, description = "Index directory to create (must not exist).")
    Path out;

    @Option(names = "--context-tokens", defaultValue = "128", description = "Context budget in words, as for synthesize (default ${DEFAULT-VALUE}).")
    int contextTokens;

    @Override
    public Integer call() throws Exception {
        int n = ContextIndex.build(Contexts.read(docs, contextTokens), docs, contextTokens, out);
        System.out.println("index: " + n + " contexts from " + docs + " in " + out);
        return 0;
    }
}
