package dev.retort.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A model's chat template: the Jinja program in {@code tokenizer_config.json}'s {@code chat_template} (or a
 * {@code chat_template.jinja} file beside it) that turns a conversation into the text the model was trained on.
 * Rendered as transformers' {@code apply_chat_template} renders it — blocks trimmed and left-stripped,
 * {@code messages}, {@code bos_token}, {@code eos_token} and {@code add_generation_prompt} bound,
 * {@code raise_exception} available — with jinjava, a maintained pure-Java Jinja engine; the renderings are
 * checked against transformers' own on golden conversations.
 */
public final class ChatTemplate {
    private static final Jinjava JINJA = engine();

    private final String source;
    private final String bosToken, eosToken;

    /** One turn of a conversation: role (system, user, assistant, …) and its text. */
    public record Message(String role, String content) {
        public Message {
            if (role == null || content == null) throw new IllegalArgumentException("a message needs a role and a content");
        }
    }

    public ChatTemplate(String source, String bosToken, String eosToken) {
        this.source = source;
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
    }

    /**
     * The chat template of the model in {@code dir}: {@code chat_template.jinja}, else {@code chat_template} in
     * {@code tokenizer_config.json} (a string, or a list of named templates of which "default" is taken); empty
     * when the model has none. BOS and EOS are the config's {@code bos_token} and {@code eos_token}, else the
     * tokenizer's. For a GGUF file, {@code tokenizer.chat_template} with the tokenizer's BOS and EOS.
     */
    public static Optional<ChatTemplate> read(Path dir, Tokenizer tokenizer) throws IOException {
        if (dev.retort.models.gguf.GgufFile.isGguf(dir)) return dev.retort.models.gguf.GgufModel.chatTemplate(dir, tokenizer);
        Path config = dir.resolve("tokenizer_config.json"), jinja = dir.resolve("chat_template.jinja");
        JsonNode json = Files.isRegularFile(config) ? Json.read(config) : null;
        String source = null;
        if (Files.isRegularFile(jinja)) {
            source = Files.readString(jinja, StandardCharsets.UTF_8);
        } else if (json != null && json.has("chat_template")) {
            JsonNode t = json.get("chat_template");
            if (t.isTextual()) source = t.asText();
            else if (t.isArray()) {
                for (JsonNode named : t) if ("default".equals(named.path("name").asText())) source = named.path("template").asText(null);
            }
            if (source == null) throw new TokenizerFileException(config, "'chat_template' is neither a template nor a list with a \"default\" one");
        }
        if (source == null) return Optional.empty();
        String bos = json == null ? null : tokenText(json.get("bos_token"));
        String eos = json == null ? null : tokenText(json.get("eos_token"));
        if (bos == null && tokenizer != null && tokenizer.bosId() >= 0) bos = tokenizer.token(tokenizer.bosId());
        if (eos == null && tokenizer != null && tokenizer.eosId() >= 0) eos = tokenizer.token(tokenizer.eosId());
        return Optional.of(new ChatTemplate(source, bos, eos));
    }

    private static String tokenText(JsonNode v) {
        if (v == null || v.isNull()) return null;
        return v.isTextual() ? v.asText() : v.path("content").asText(null);
    }

    /**
     * The conversation as text; with {@code addGenerationPrompt} followed by what opens the assistant's turn.
     *
     * @throws IllegalArgumentException when the template rejects the conversation ({@code raise_exception}) or fails
     */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> list = new ArrayList<>();
        for (Message m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            list.add(map);
        }
        Map<String, Object> bindings = new LinkedHashMap<>();
        bindings.put("messages", list);
        bindings.put("bos_token", bosToken);
        bindings.put("eos_token", eosToken);
        bindings.put("add_generation_prompt", addGenerationPrompt);
        REJECTION.remove();
        RenderResult result = JINJA.renderForResult(source, bindings);
        String rejected = REJECTION.get();
        REJECTION.remove();
        if (rejected != null) throw new IllegalArgumentException("chat template: " + rejected);
        for (TemplateError e : result.getErrors()) {
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new IllegalArgumentException("chat template: " + (e.getMessage() == null ? e : e.getMessage().lines().findFirst().orElse("")));
            }
        }
        return result.getOutput();
    }

    /** The message of the template's {@code raise_exception} call during this thread's rendering, if any. */
    private static final ThreadLocal<String> REJECTION = new ThreadLocal<>();

    /** The template function {@code raise_exception}, as transformers defines it: the conversation is refused. */
    public static String raiseException(String message) {
        REJECTION.set(message);
        throw new IllegalArgumentException(message);
    }

    private static Jinjava engine() {
        JinjavaConfig config = JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true).build();
        Jinjava jinjava = new Jinjava(config);
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class,
                "raiseException", String.class));
        return jinjava;
    }
}
