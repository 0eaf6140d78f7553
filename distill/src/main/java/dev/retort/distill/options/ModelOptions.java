package dev.retort.distill.options;

import java.nio.file.Path;

/**
 * Which models a run uses: the teacher (a Hugging Face directory, or its top-k logits from a cache), and the
 * student, either a directory of its own or some of the teacher's layers.
 *
 * @param teacher       teacher model directory (required)
 * @param teacherCache  top-k logits from {@code retort cache-teacher}, or null to run the teacher live
 * @param student       student model directory with the teacher's tokenizer, or null
 * @param studentLayers the teacher layers the student is made of ("0,2,4"), or null
 */
public record ModelOptions(Path teacher, Path teacherCache, Path student, String studentLayers) {

    /** For a distillation run: a teacher, and exactly one way to make the student. */
    public ModelOptions requireStudent() {
        if (teacher == null) throw new IllegalArgumentException("--teacher is required (on the command line or in --config)");
        if ((student == null) == (studentLayers == null)) {
            throw new IllegalArgumentException("give exactly one of --student DIR and --student-layers LIST");
        }
        return this;
    }

    /** How the student is made, for the run's fingerprint. */
    public String describeStudent() {
        return student != null ? student.toString() : "layers " + studentLayers;
    }
}
