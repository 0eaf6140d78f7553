package dev.retort.distill.synth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.distill.qa.Contexts;
import dev.retort.distill.qa.QaFormat;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The lines synthesize writes for each --train-on, their re-writing, the rejected file's name and the template's check. */
class SynthesizeJobTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Contexts.Context CONTEXT = new Contexts.Context("d1#0", "d1", "anna berg is a baker in oslo.");
    private static final QaFormat.Written WRITTEN = new QaFormat.Written("where does anna berg live?", "oslo");

    @TempDir
    Path tmp;

    @Test
    void questionAnswerTrainsTheStudentToAskAndAnswer() {
        JsonNode line = SynthesizeJob.kept(CONTEXT, WRITTEN, SynthesizeJob.TrainOn.QUESTION_ANSWER);
        assertEquals("passage: anna berg is a baker in oslo.\nquestion:", line.get("prompt").asText());
        assertEquals(" where does anna berg live?\nanswer: oslo", line.get("completion").asText());
        assertEquals("d1#0", line.get("context_id").asText());
    }

    @Test
    void answerTrainsItToAnswerOnly() {
        JsonNode line = SynthesizeJob.kept(CONTEXT, WRITTEN, SynthesizeJob.TrainOn.ANSWER);
        assertEquals("passage: anna berg is a baker in oslo.\nquestion: where does anna berg live?\nanswer:", line.get("prompt").asText());
        assertEquals(" oslo", line.get("completion").asText());
        assertEquals(line.get("prompt").asText() + line.get("completion").asText(), QaFormat.answered(CONTEXT.text(), WRITTEN.question(), WRITTEN.answer()),
                "both ways the whole text is the answered question");
    }

    @Test
    void retrainRewritesPromptsAndCompletionsOnly() throws Exception {
        Path in = Files.writeString(tmp.resolve("qa.jsonl"), SynthesizeJob.kept(CONTEXT, WRITTEN, SynthesizeJob.TrainOn.QUESTION_ANSWER) + "\n");
        Path out = tmp.resolve("answer-only.jsonl");
        SynthesizeJob.retrain(in, out, SynthesizeJob.TrainOn.ANSWER);
        assertEquals(SynthesizeJob.kept(CONTEXT, WRITTEN, SynthesizeJob.TrainOn.ANSWER).toString() + "\n", Files.readString(out));
        assertThrows(java.nio.file.FileAlreadyExistsException.class, () -> SynthesizeJob.retrain(in, out, SynthesizeJob.TrainOn.ANSWER));
    }

    @Test
    void rejectedFileSitsBesideTheOutput() {
        assertEquals(Path.of("runs/qa.rejected.jsonl"), SynthesizeJob.rejectedFile(Path.of("runs/qa.jsonl")));
        assertEquals(Path.of("qa.rejected"), SynthesizeJob.rejectedFile(Path.of("qa")));
    }

    @Test
    void aTemplateWithoutTheContextIsRefused() throws Exception {
        Path t = Files.writeString(tmp.resolve("t.txt"), "write a question:");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SynthesizeJob.template(t, false));
        assertEquals("--template " + t + ": no {context} in it, where the context goes", e.getMessage());
        assertEquals(QaFormat.DEFAULT_TEMPLATE, SynthesizeJob.template(null, false));
        assertTrue(SynthesizeJob.template(null, true).contains("{context}"));
        assertEquals("IllegalArgumentException", assertThrows(IllegalArgumentException.class, () -> SynthesizeJob.TrainOn.parse("both")).getClass().getSimpleName());
    }
}
