package dev.retort.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chat templates rendered by jinjava equal what transformers' {@code apply_chat_template} renders (golden file
 * from tools/chat/make_chat_golden.py): the Llama 3 template, a ChatML one with a default system prompt, and one
 * that rejects a conversation with {@code raise_exception}, with and without the generation prompt.
 */
class ChatTemplateTest {
    @TempDir
    Path tmp;

    private static JsonNode golden() throws Exception {
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("/golden/chat-templates.json")) {
            return new ObjectMapper().readTree(in);
        }
    }

    static List<ChatTemplate.Message> messages(JsonNode list) {
        List<ChatTemplate.Message> out = new ArrayList<>();
        for (JsonNode m : list) out.add(new ChatTemplate.Message(m.get("role").asText(), m.get("content").asText()));
        return out;
    }

    @Test
    void rendersExactlyAsTransformersDoes() throws Exception {
        JsonNode g = golden();
        int rendered = 0, rejected = 0;
        for (JsonNode c : g.get("cases")) {
            String name = c.get("template").asText();
            ChatTemplate template = new ChatTemplate(g.get("templates").get(name).asText(), g.get("bos_token").asText(), g.get("eos_token").asText());
            List<ChatTemplate.Message> messages = messages(c.get("messages"));
            boolean generation = c.get("add_generation_prompt").asBoolean();
            String what = name + " " + c.get("messages") + " add_generation_prompt=" + generation;
            if (c.get("error").isNull()) {
                assertEquals(c.get("rendered").asText(), template.render(messages, generation), what);
                rendered++;
            } else {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> template.render(messages, generation), what);
                assertEquals("chat template: " + c.get("error").asText(), e.getMessage(), what);
                rejected++;
            }
        }
        assertTrue(rendered >= 16 && rejected >= 2, rendered + " rendered, " + rejected + " rejected");
    }

    @Test
    void readsTheTemplateFromTheTokenizerConfigOrItsOwnFile() throws Exception {
        JsonNode g = golden();
        String chatml = g.get("templates").get("chatml").asText();
        Files.writeString(tmp.resolve("tokenizer_config.json"), new ObjectMapper().createObjectNode()
                .put("bos_token", "<s>").put("eos_token", "</s>").put("chat_template", chatml).toString());
        Tokenizer none = null;
        ChatTemplate fromConfig = ChatTemplate.read(tmp, none).orElseThrow();
        List<ChatTemplate.Message> hi = List.of(new ChatTemplate.Message("user", "hi"));
        assertEquals("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
                fromConfig.render(hi, true));
        Files.writeString(tmp.resolve("chat_template.jinja"), "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}");
        assertEquals("<s>hi", ChatTemplate.read(tmp, none).orElseThrow().render(hi, false), "chat_template.jinja wins, as in transformers");
        Files.delete(tmp.resolve("chat_template.jinja"));
        Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\"}");
        assertTrue(ChatTemplate.read(tmp, none).isEmpty());
    }
}
