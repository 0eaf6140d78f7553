package dev.retort.distill.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.models.tokenizer.ChatTemplate;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TRL's data formats with the Llama 3 tokenizer and its chat template: a conversation's tokens are exactly the
 * rendered conversation's, and only the assistant turns (content and end-of-turn marker) are targets;
 * prompt/completion trains on the completion; conversations without a template and Parquet files are refused
 * in one line.
 */
class ConversationDataTest {
    private static final Path LLAMA2 = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/llama2-tokenizer");
    private static final Path LLAMA3 = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/llama3-tokenizer");
    /** Meta-Llama-3-8B-Instruct's template (also in models' golden chat-templates.json). */
    static final String LLAMA3_TEMPLATE = "{% set loop_messages = messages %}{% for message in loop_messages %}"
            + "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
            + "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

    @TempDir
    Path tmp;
    private Tokenizer tokenizer;
    private ChatTemplate template;

    @BeforeEach
    void load() throws Exception {
        Assumptions.assumeTrue(Files.isRegularFile(LLAMA3.resolve("tokenizer.json")), "shared assets not found at " + LLAMA3 + "; skipping");
        tokenizer = Tokenizers.load(LLAMA3);
        template = new ChatTemplate(LLAMA3_TEMPLATE, "<|begin_of_text|>", "<|end_of_text|>");
    }

    @Test
    void onlyAssistantTurnsAreTargetsAndNothingIsLostOrDoubled() throws Exception {
        Path data = Files.writeString(tmp.resolve("chat.jsonl"), """
                {"messages": [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Sky colour?"}, {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "And grass?"}, {"role": "assistant", "content": "Green."}]}
                {"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": "Hello!"}]}
                """);
        List<Example> examples = CorpusReader.read(data, tokenizer, template);
        Example e = examples.getFirst();
        List<ChatTemplate.Message> messages = List.of(new ChatTemplate.Message("system", "Answer in one word."),
                new ChatTemplate.Message("user", "Sky colour?"), new ChatTemplate.Message("assistant", "Blue."),
                new ChatTemplate.Message("user", "And grass?"), new ChatTemplate.Message("assistant", "Green."));
        assertEquals(template.render(messages, false), tokenizer.decode(e.tokens(), false), "the tokens are the rendered conversation");
        assertEquals(tokenizer.encode(template.render(messages, false), false, false).length, e.tokens().length,
                "piece by piece tokenizes as the whole text does");
        assertEquals("Blue.<|eot_id|>Green.<|eot_id|>", tokenizer.decode(targets(e, true), false), "targets: the assistant turns");
        assertTrue(tokenizer.decode(targets(e, false), false).startsWith("<|begin_of_text|><|start_header_id|>system"));
        assertEquals("Hello!<|eot_id|>", tokenizer.decode(targets(examples.get(1), true), false), "conversational prompt/completion");
    }

    @Test
    void promptCompletionTrainsOnTheCompletion() throws Exception {
        Path data = Files.writeString(tmp.resolve("pc.jsonl"), "{\"prompt\": \"2+2=\", \"completion\": \" 4\"}\n");
        Example e = CorpusReader.read(data, tokenizer, null).getFirst();
        assertEquals(" 4", tokenizer.decode(targets(e, true), true));
        assertEquals("2+2=", tokenizer.decode(targets(e, false), true));
    }

    /**
     * With a SentencePiece-style tokenizer (Llama 2's) a completion tokenized alone gets a second word-start piece;
     * tokenized after its prompt, as TRL does and as the model generates, it does not.
     */
    @Test
    void aCompletionIsTokenizedAsItFollowsItsPrompt() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(LLAMA2), "shared assets not found at " + LLAMA2 + ": skipped");
        var llama2 = dev.retort.models.tokenizer.Tokenizers.load(LLAMA2);
        Example e = CorpusReader.promptCompletion("question: what pet?\nanswer:", " cat", llama2);
        int[] whole = llama2.encodePrompt("question: what pet?\nanswer: cat");
        int[] expected = java.util.Arrays.copyOf(whole, whole.length + 1);
        expected[whole.length] = llama2.eosId();
        assertArrayEquals(expected, e.tokens());
        int[] apart = llama2.encode(" cat", false, false);
        assertTrue(apart.length == 2, "the split this avoids: " + java.util.Arrays.toString(apart));
        assertEquals(" cat", " " + llama2.decode(targets(e, true), true).strip());
        assertEquals(2, targets(e, true).length, "\u2581cat and EOS");
    }

    @Test
    void conversationsWithoutATemplateAndParquetAreRefusedInOneLine() throws Exception {
        Path data = Files.writeString(tmp.resolve("chat.jsonl"), "\n{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"y\"}]}\n");
        IllegalArgumentException noTemplate = assertThrows(IllegalArgumentException.class, () -> CorpusReader.read(data, tokenizer, null));
        assertEquals(data + ":2: a conversation needs the model's chat template, and its tokenizer_config.json has no \"chat_template\"",
                noTemplate.getMessage());
        Path bad = Files.writeString(tmp.resolve("bad.jsonl"), "{\"messages\": [{\"role\": \"user\", \"content\": 3}]}\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CorpusReader.read(bad, tokenizer, template)).getMessage()
                .startsWith(bad + ":1: each message of \"messages\" must be {\"role\": string, \"content\": string}"));
        Path parquet = Files.write(tmp.resolve("train-00000.parquet"), new byte[] {'P', 'A', 'R', '1', 0, 0, 0, 0, 'P', 'A', 'R', '1'});
        String message = assertThrows(IllegalArgumentException.class, () -> CorpusReader.read(parquet, tokenizer, template)).getMessage();
        assertTrue(message.startsWith(parquet + ": a Parquet file; Retort reads JSONL or text") && !message.contains("\n"), message);
    }

    private static int[] targets(Example e, boolean wanted) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < e.tokens().length; i++) if (e.target()[i] == wanted) out.add(e.tokens()[i]);
        return out.stream().mapToInt(Integer::intValue).toArray();
    }
}
