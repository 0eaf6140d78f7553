package dev.retort.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.models.llama.Generator;
import dev.retort.models.llama.LlamaInference;
import dev.retort.models.llama.Sampler;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.ThreadPool;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Batched KV-cache generation on stories260K: B sequences decoded together write, token for token, what each
 * writes alone (greedy and seeded sampling, ragged prompts, any batch size and thread count); the generated
 * text continues the prompt's (leading space kept); stop strings, min-p and the repetition penalty do what they say.
 */
class BatchGenerationTest {
    private static final List<String> PROMPTS = List.of("Once upon a time", "", "Lily and Tom went to the park. They saw a big",
            "The dog", "One day, a little bird", "Sam had a red ball. He", "She was happy", "The sun");

    @AfterAll
    static void restoreThreads() {
        ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
    }

    @Test
    void batchesWriteWhatEachPromptWritesAlone() throws Exception {
        try (Llm llm = Llm.open(LlmTest.stories())) {
            for (Sampling sampling : List.of(Sampling.greedy(48), Sampling.defaults().withMaxTokens(48).withSeed(3).withTopK(40))) {
                List<Generator.Result> alone = new ArrayList<>();
                for (int i = 0; i < PROMPTS.size(); i++) {
                    alone.add(llm.generate(List.of(PROMPTS.get(i)), sampling.withSeed(Sampling.sequenceSeed(sampling.seed(), i)), 1,
                            (index, piece) -> { }).getFirst());
                }
                for (int batch : new int[] {1, 3, 8}) {
                    for (int threads : new int[] {1, 2}) {
                        ThreadPool.setSharedThreads(threads);
                        List<StringBuilder> streamed = new ArrayList<>();
                        for (int i = 0; i < PROMPTS.size(); i++) streamed.add(new StringBuilder());
                        List<Generator.Result> together = llm.generate(PROMPTS, sampling, batch, (i, piece) -> streamed.get(i).append(piece));
                        for (int i = 0; i < PROMPTS.size(); i++) {
                            String what = "prompt " + i + " '" + PROMPTS.get(i) + "', batch " + batch + ", " + threads + " threads, temperature "
                                    + sampling.temperature();
                            assertArrayEquals(alone.get(i).generated(), together.get(i).generated(), what);
                            assertEquals(alone.get(i).text(), together.get(i).text(), what);
                            assertEquals(together.get(i).text(), streamed.get(i).toString(), what + ": streamed pieces");
                        }
                    }
                }
                ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
                // prompt 0 with the run's own seed is exactly the single-prompt API's generation
                assertEquals(llm.generate(PROMPTS.getFirst(), sampling), alone.getFirst().text());
            }
        }
    }

    /** The engine under the generator: a decode step's logits are bitwise those of each sequence fed alone. */
    @Test
    void decodeStepLogitsAreBitwiseThoseOfEachSequenceAlone() throws Exception {
        try (LlmTest.ByHand hand = LlmTest.ByHand.open(LlmTest.stories())) {
            int[][] prompts = {hand.tokenizer().encode("Once upon a time"), hand.tokenizer().encode("The dog ran to the big"), {1}};
            int[][] next = {{5, 9, 300, 12}, {7, 7, 8, 100}, {40, 41, 42, 43}};
            try (LlamaInference together = new LlamaInference(hand.model(), 3, 64, 64)) {
                for (int s = 0; s < 3; s++) together.forward(s, prompts[s]);
                for (int step = 0; step < next[0].length; step++) {
                    together.decode(new int[] {2, 0, 1}, new int[] {next[2][step], next[0][step], next[1][step]});
                }
                for (int s = 0; s < 3; s++) {
                    try (LlamaInference alone = new LlamaInference(hand.model(), 64, 64)) {
                        alone.forward(prompts[s]);
                        for (int token : next[s]) alone.forward(new int[] {token});
                        assertArrayEquals(alone.logits(0).toFloatArray(), together.logits(s).toFloatArray(), "sequence " + s);
                        assertEquals(alone.position(), together.position(s));
                    }
                }
            }
        }
    }

    @Test
    void textContinuesThePromptWithItsLeadingSpace() throws Exception {
        Path dir = LlmTest.stories();
        try (Llm llm = Llm.open(dir)) {
            Tokenizer tokenizer = Tokenizers.load(dir);
            Generator.Result r = llm.generate(LlmTest.PROMPT, Sampling.greedy(20), piece -> { });
            int[] prompt = tokenizer.encode(LlmTest.PROMPT);
            int[] all = new int[prompt.length + r.generated().length];
            System.arraycopy(prompt, 0, all, 0, prompt.length);
            System.arraycopy(r.generated(), 0, all, prompt.length, r.generated().length);
            assertEquals(tokenizer.decode(all), LlmTest.PROMPT + r.text());
            assertTrue(r.text().startsWith(" ") || r.text().startsWith(","), "continues with its space: '" + r.text() + "'");
        }
    }

    @Test
    void stopStringsEndTheTextBeforeThem() throws Exception {
        try (Llm llm = Llm.open(LlmTest.stories())) {
            String full = llm.generate(LlmTest.PROMPT, Sampling.greedy(60));
            int cut = full.indexOf(' ', 12);
            String stop = full.substring(cut, cut + 4);
            StringBuilder streamed = new StringBuilder();
            Generator.Result r = llm.generate(LlmTest.PROMPT, Sampling.greedy(60).withStops(List.of("zzzz", stop)), streamed::append);
            assertEquals(full.substring(0, full.indexOf(stop)), r.text());
            assertEquals(r.text(), streamed.toString(), "no text past the stop string is streamed");
            assertEquals(Generator.Finish.STOP_STRING, r.finish());
            assertEquals(Generator.Finish.LENGTH, llm.generate(LlmTest.PROMPT, Sampling.greedy(5), p -> { }).finish());
        }
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
        try (Arena arena = Arena.ofConfined()) {
            Sampler penalised = new Sampler(0, 0, 1, 0, 2f, 0);
            // token 0 seen: 2 -> 1, below token 1's 1.5
            assertEquals(1, penalised.sample(Tensor.of(arena, new float[] {2f, 1.5f, -1f}, 3), new int[] {0, 0}, 2));
            assertEquals(0, penalised.sample(Tensor.of(arena, new float[] {2f, 1.5f, -1f}, 3), new int[] {0}, 0), "nothing seen yet");
            // token 0 seen: -1 -> -2, below token 1's -1.5
            assertEquals(1, penalised.sample(Tensor.of(arena, new float[] {-1f, -1.5f, -9f}, 3), new int[] {0}, 1));
            assertEquals(0, Sampler.greedy().sample(Tensor.of(arena, new float[] {-1f, -1.5f, -9f}, 3), new int[] {0}, 1), "penalty 1 is off");
        }
    }

    @Test
    void topKAndTopPDrawOnlyFromTheMostLikelyTokensWithTiesByLowestId() {
        try (Arena arena = Arena.ofConfined()) {
            // logits: ids 5 and 2 tie for best, then 7, then -0.5 everywhere else
            float[] z = new float[20];
            java.util.Arrays.fill(z, -0.5f);
            z[5] = 3f;
            z[2] = 3f;
            z[7] = 2.5f;
            z[11] = -7e30f;
            Tensor logits = Tensor.of(arena, z, 20);
            Set<Integer> topTwo = new HashSet<>(), nucleus = new HashSet<>(), all = new HashSet<>();
            Sampler k2 = new Sampler(1, 2, 1, 3), p = new Sampler(1, 0, 0.3f, 3), plain = new Sampler(5, 0, 1, 3);
            for (int i = 0; i < 3000; i++) {
                topTwo.add(k2.sample(logits));
                nucleus.add(p.sample(logits));
                all.add(plain.sample(logits));
            }
            assertEquals(Set.of(2, 5), topTwo);
            assertEquals(Set.of(2), nucleus, "p(2) = p(5) ≈ 0.32: a nucleus of 0.3 is the first of the tie, the lower id");
            assertTrue(all.size() >= 18 && !all.contains(11), "temperature 5 without cuts reaches nearly every token: " + all);
        }
    }

    @Test
    void minPDrawsOnlyTokensNearTheBest() {
        try (Arena arena = Arena.ofConfined()) {
            // softmax at T = 1: p ∝ e^0, e^-0.5, e^-1, e^-3 = 1, 0.61, 0.37, 0.05 of the best
            Tensor logits = Tensor.of(arena, new float[] {0f, -0.5f, -1f, -3f}, 4);
            Set<Integer> withMinP = new HashSet<>(), without = new HashSet<>();
            Sampler floor = new Sampler(1, 0, 1, 0.5f, 1, 11), plain = new Sampler(1, 0, 1, 11);
            for (int i = 0; i < 4000; i++) {
                withMinP.add(floor.sample(logits));
                without.add(plain.sample(logits));
            }
            assertEquals(Set.of(0, 1), withMinP, "min-p 0.5 keeps p >= 0.5 p_max: tokens 0 and 1");
            assertEquals(Set.of(0, 1, 2, 3), without);
            assertFalse(withMinP.contains(2));
        }
    }
}
