package dev.retort.distill.demo;

import dev.retort.distill.qa.Contexts;
import dev.retort.distill.qa.QaFormat;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A generated document collection where retrieval is genuinely hard, for the QA pipeline of issue 12
 * (Ace-Attorney): short documents about people who share first names, family names, jobs and towns.
 *
 * <p>Each document describes one person (its "subject") in three sentences, and names one friend with the
 * friend's job and town: {@code "ben holm is a pilot in alta. he has a cat and likes chess. he is a friend of
 * anna berg, the baker from oslo."} A gold question names its subject by full name and job or town ("what pet does
 * the baker anna berg have?"), which picks out one person; but the subject's name, job and town also occur in
 * every document where that person is the friend, once each — as often as in the subject's own document, where
 * the name appears once (then a pronoun). So BM25's best hit is often a near miss: a document about someone else
 * that mentions the subject. What tells them apart is whom the document is about, which a reader sees and a bag
 * of words does not.
 *
 * <p>A world is a function of its seed. The teacher learns to write and answer questions on one world and is asked
 * to synthesise on another (other facts, same kind of text), so what it brings is the skill, not the answers;
 * the gold questions are drawn for evaluation only.
 */
public final class DocumentWorld {
    private static final String[] SHE = {"anna", "dora", "frida", "ida", "klara"};
    private static final String[] HE = {"ben", "carl", "emil", "hugo", "jonas"};
    private static final String[] FAMILY = {"berg", "holm", "lund", "dahl", "falk", "strand", "vik", "moen"};
    private static final String[] JOBS = {"baker", "teacher", "doctor", "farmer", "painter", "pilot", "sailor", "singer", "tailor", "writer"};
    private static final String[] TOWNS = {"oslo", "bergen", "tromso", "molde", "hamar", "skien", "larvik", "narvik", "alta", "bodo"};
    private static final String[] PETS = {"cat", "dog", "horse", "parrot", "goat", "rabbit", "turtle", "hamster"};
    private static final String[] HOBBIES = {"chess", "fishing", "skiing", "dancing", "cooking", "hiking", "reading", "singing"};

    /** One person; {@code friend} is an index into the world's people. */
    record Person(String first, String family, boolean she, String job, String town, String pet, String hobby, int friend) {
        String name() {
            return first + " " + family;
        }
    }

    /** A question whose answer is in document {@code document}. */
    public record Question(String question, String answer, String document) {}

    private final List<Person> people = new ArrayList<>();

    /** A world of {@code size} people, one document each. */
    public DocumentWorld(long seed, int size) {
        SplittableRandom r = new SplittableRandom(seed);
        Set<String> byJob = new HashSet<>(), byTown = new HashSet<>();
        int capacity = (SHE.length + HE.length) * FAMILY.length * Math.min(JOBS.length, TOWNS.length);
        if (size < 2 || size > capacity / 2) throw new IllegalArgumentException("a world holds 2 to " + capacity / 2 + " people, not " + size);
        List<Person> drawn = new ArrayList<>();
        while (drawn.size() < size) {
            boolean she = r.nextBoolean();
            String first = (she ? SHE : HE)[r.nextInt(SHE.length)], family = FAMILY[r.nextInt(FAMILY.length)];
            String job = JOBS[r.nextInt(JOBS.length)], town = TOWNS[r.nextInt(TOWNS.length)];
            // name + job and name + town each pick out one person, so every gold question has one answer
            if (byJob.contains(first + family + job) || byTown.contains(first + family + town)) continue;
            byJob.add(first + family + job);
            byTown.add(first + family + town);
            drawn.add(new Person(first, family, she, job, town, PETS[r.nextInt(PETS.length)], HOBBIES[r.nextInt(HOBBIES.length)], -1));
        }
        for (int i = 0; i < size; i++) {
            int friend = (i + 1 + r.nextInt(size - 1)) % size;
            Person p = drawn.get(i);
            people.add(new Person(p.first, p.family, p.she, p.job, p.town, p.pet, p.hobby, friend));
        }
    }

    /** The collection: document {@code d<i>} about person i. */
    public List<Contexts.Document> documents() {
        List<Contexts.Document> out = new ArrayList<>();
        for (int i = 0; i < people.size(); i++) out.add(new Contexts.Document(id(i), text(i)));
        return out;
    }

    /** Every question the world can ask about person i's document (four kinds). */
    public List<Question> questions(int i) {
        Person p = people.get(i);
        return List.of(
                new Question("where does the " + p.job + " " + p.name() + " live?", p.town, id(i)),
                new Question("what is the job of " + p.name() + " from " + p.town + "?", p.job, id(i)),
                new Question("what pet does the " + p.job + " " + p.name() + " have?", p.pet, id(i)),
                new Question("what does " + p.name() + " from " + p.town + " like?", p.hobby, id(i)));
    }

    /** {@code count} gold questions for evaluation: distinct people, one question of a random kind each. */
    public List<Question> goldQuestions(long seed, int count) {
        if (count > people.size()) throw new IllegalArgumentException("at most " + people.size() + " gold questions, not " + count);
        SplittableRandom r = new SplittableRandom(seed);
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < people.size(); i++) order.add(i);
        for (int i = order.size() - 1; i > 0; i--) java.util.Collections.swap(order, i, r.nextInt(i + 1));
        List<Question> out = new ArrayList<>();
        for (int k = 0; k < count; k++) out.add(questions(order.get(k)).get(r.nextInt(4)));
        return out;
    }

    /**
     * A corpus for a teacher that should read, ask and answer: for {@code examples} documents of this world, the
     * document answered with one of its questions ({@link QaFormat#answered}), one paragraph each, plus the plain
     * document every other time.
     */
    public String teacherCorpus(long seed, int examples) {
        SplittableRandom r = new SplittableRandom(seed);
        StringBuilder text = new StringBuilder();
        for (int k = 0; k < examples; k++) {
            int i = r.nextInt(people.size());
            Question q = questions(i).get(r.nextInt(4));
            text.append(QaFormat.answered(text(i), q.question(), q.answer())).append("\n\n");
            if (k % 2 == 0) text.append(text(i)).append("\n\n");
        }
        return text.toString();
    }

    /** A question asked over a long context: the passage that answers it among distractor passages. */
    public record LongQuestion(String context, String question, String answer) {}

    /**
     * {@code count} questions, each over a context of {@code passages} documents: the one that answers it and
     * {@code passages - 1} others drawn at random, in random order, one paragraph each. With {@code distinct} the
     * questions are about distinct people (held-out evaluation), else people are drawn with replacement (training).
     */
    public List<LongQuestion> longContextQuestions(long seed, int count, int passages, boolean distinct) {
        if (passages < 1 || passages > people.size()) {
            throw new IllegalArgumentException("a long context holds 1 to " + people.size() + " passages, not " + passages);
        }
        if (distinct && count > people.size()) throw new IllegalArgumentException("at most " + people.size() + " distinct questions, not " + count);
        SplittableRandom r = new SplittableRandom(seed);
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < people.size(); i++) order.add(i);
        for (int i = order.size() - 1; i > 0; i--) java.util.Collections.swap(order, i, r.nextInt(i + 1));
        List<LongQuestion> out = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            int gold = distinct ? order.get(k) : r.nextInt(people.size());
            List<Integer> chosen = new ArrayList<>(List.of(gold));
            while (chosen.size() < passages) {
                int other = r.nextInt(people.size());
                if (!chosen.contains(other)) chosen.add(other);
            }
            for (int i = chosen.size() - 1; i > 0; i--) java.util.Collections.swap(chosen, i, r.nextInt(i + 1));
            StringBuilder context = new StringBuilder();
            for (int i : chosen) context.append(context.isEmpty() ? "" : "\n").append(text(i));
            Question q = questions(gold).get(r.nextInt(4));
            out.add(new LongQuestion(context.toString(), q.question(), q.answer()));
        }
        return out;
    }

    public int size() {
        return people.size();
    }

    static String id(int i) {
        return "d" + i;
    }

    private String text(int i) {
        Person p = people.get(i), f = people.get(p.friend);
        String pronoun = p.she ? "she" : "he";
        return p.name() + " is a " + p.job + " in " + p.town + ". " + pronoun + " has a " + p.pet + " and likes " + p.hobby + ". "
                + pronoun + " is a friend of " + f.name() + ", the " + f.job + " from " + f.town + ".";
    }
}
