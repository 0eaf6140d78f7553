package dev.retort.models.run;

import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.llama.Generator;
import dev.retort.tensor.ThreadPool;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code retort-run --model student.gguf --prompt TEXT}: the small runtime's one command, generating text from a
 * student with nothing but tensor, autograd and models on the class path (no picocli, no training code; see the
 * {@code build-runtime} command of the {@code retort} script). Its flags are a subset of {@code retort generate}'s,
 * with the same defaults, meanings and messages, and it prints what {@code retort generate} prints for one prompt:
 * the generated text, streamed, then a newline. Bad input: one line on standard error, exit 2; a failed run: exit 1.
 */
public final class RetortRun {
    private RetortRun() {}

    static final String USAGE = """
            Usage: retort-run --model FILE|DIR [--prompt TEXT] [options]
            Generate text with a Llama model (a GGUF file or a Hugging Face directory); the flags are retort generate's.
              --model FILE|DIR            GGUF file or model directory (config.json, model.safetensors, tokenizer)
              --prompt TEXT               the prompt (default: empty, start from BOS); '-' reads standard input
              --max-tokens N              most tokens to generate (default 256)
              --temperature T             0 = greedy (default 0.8)
              --top-p P                   nucleus sampling mass (default 0.95)
              --top-k K                   keep only the k most likely tokens; 0 = all (default 0)
              --min-p P                   keep only tokens at least this fraction as likely as the best (default 0)
              --repetition-penalty R      penalise tokens already in the sequence; 1 = off (default 1)
              --stop TEXT                 stop when the text reaches this string (not included); repeatable
              --seed N                    sampling seed (default 42)
              --threads N                 threads (default: all processors)
              --stats                     print tokens/s to standard error at the end
              -h, --help                  print this help
            """;

    /** The parsed command line. */
    record Options(Path model, String prompt, Sampling sampling, Integer threads, boolean stats, boolean help) {}

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the command; returns the exit status (0, 1 for a failed run, 2 for bad input). */
    static int run(String[] args, PrintStream stdout, PrintStream err) {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            err.println("retort-run: " + e.getMessage() + " (see 'retort-run --help')");
            return 2;
        }
        if (o.help()) {
            stdout.print(USAGE);
            return 0;
        }
        try {
            if (o.threads() != null) ThreadPool.setSharedThreads(o.threads());
            String prompt = o.prompt().equals("-") ? new String(System.in.readAllBytes(), StandardCharsets.UTF_8) : o.prompt();
            PrintStream out = new PrintStream(stdout, true, StandardCharsets.UTF_8);
            long start = System.nanoTime();
            Generator.Result result;
            try (Llm llm = Llm.open(o.model())) {
                result = llm.generate(prompt, o.sampling(), piece -> {
                    out.print(piece);
                    out.flush();
                });
                out.println();
            }
            if (o.stats()) {
                double seconds = (System.nanoTime() - start) / 1e9;
                err.printf(Locale.ROOT, "%d prompt tokens, %d generated in %.2f s: %.1f tokens/s%n", result.promptTokens(),
                        result.generated().length, seconds, result.generated().length / Math.max(seconds, 1e-9));
            }
            return 0;
        } catch (IllegalArgumentException | ModelFileException | UncheckedIOException | IOException e) {
            err.println("retort-run: " + e.getMessage());
            return 2;
        } catch (RuntimeException e) {
            err.println("retort-run: " + e);
            return 1;
        }
    }

    /** Parses {@code --flag value} pairs; anything unknown, repeated (but --stop) or missing is an IllegalArgumentException. */
    static Options parse(String[] args) {
        Path model = null;
        String prompt = null;
        int maxTokens = 256, topK = 0;
        float temperature = 0.8f, topP = 0.95f, minP = 0f, repetitionPenalty = 1f;
        long seed = 42;
        Integer threads = null;
        boolean stats = false;
        List<String> stops = new ArrayList<>();
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            if (flag.equals("-h") || flag.equals("--help")) return new Options(null, "", null, null, false, true);
            if (flag.equals("--stats")) {
                stats = true;
                continue;
            }
            if (!flag.equals("--stop") && seen.contains(flag)) throw new IllegalArgumentException(flag + " is given twice");
            seen.add(flag);
            switch (flag) {
                case "--model", "--prompt", "--max-tokens", "--temperature", "--top-p", "--top-k", "--min-p",
                     "--repetition-penalty", "--stop", "--seed", "--threads" -> {
                    if (i + 1 >= args.length) throw new IllegalArgumentException(flag + " needs a value");
                }
                default -> throw new IllegalArgumentException("unknown option '" + flag + "'");
            }
            String value = args[++i];
            switch (flag) {
                case "--model" -> model = Path.of(value);
                case "--prompt" -> prompt = value;
                case "--max-tokens" -> maxTokens = parseInt(flag, value);
                case "--temperature" -> temperature = parseFloat(flag, value);
                case "--top-p" -> topP = parseFloat(flag, value);
                case "--top-k" -> topK = parseInt(flag, value);
                case "--min-p" -> minP = parseFloat(flag, value);
                case "--repetition-penalty" -> repetitionPenalty = parseFloat(flag, value);
                case "--stop" -> stops.add(value);
                case "--seed" -> seed = parseLong(flag, value);
                case "--threads" -> {
                    threads = parseInt(flag, value);
                    if (threads < 1) throw new IllegalArgumentException("--threads must be at least 1, got " + threads);
                }
                default -> throw new AssertionError(flag);
            }
        }
        if (model == null) throw new IllegalArgumentException("--model is required (a GGUF file or a model directory)");
        Sampling sampling = Sampling.fromFlags(maxTokens, temperature, topK, topP, minP, repetitionPenalty, stops, seed);
        return new Options(model, prompt == null ? "" : prompt, sampling, threads, stats, false);
    }

    private static int parseInt(String flag, String value) {
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " must be an integer, got '" + value + "'");
        }
    }

    private static long parseLong(String flag, String value) {
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " must be an integer, got '" + value + "'");
        }
    }

    private static float parseFloat(String flag, String value) {
        try {
            return Float.parseFloat(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " must be a number, got '" + value + "'");
        }
    }
}
