package dev.retort.distill.demo;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A small structured corpus, generated (never downloaded): a little world of animals, each with a fixed colour,
 * home, food and friend, described by paragraphs of templated sentences and questions, plus sums of small
 * numbers. A model can only lower its loss by learning the facts (which animal lives where, eats what) and
 * the arithmetic, not just the grammar — so a better teacher has more to pass on.
 */
public final class DemoCorpus {
    private static final String[] ANIMALS = {"fox", "owl", "bear", "frog", "cat", "dog", "wolf", "duck", "goat", "hare",
            "mole", "seal", "crab", "deer", "lion", "mouse", "otter", "swan", "toad", "yak", "bee", "ant", "bat", "eel"};
    private static final String[] COLOURS = {"red", "brown", "grey", "green", "black", "white", "golden", "blue"};
    private static final String[] HOMES = {"forest", "river", "meadow", "cave", "barn", "pond", "hill", "garden"};
    private static final String[] FOODS = {"berries", "fish", "seeds", "honey", "apples", "grass", "nuts", "bugs"};

    /** The fixed facts of one animal. */
    record Animal(String name, String colour, String home, String food, String friend) {}

    private final List<Animal> animals = new ArrayList<>();
    private final SplittableRandom random;

    public DemoCorpus(long seed) {
        random = new SplittableRandom(seed);
        SplittableRandom facts = new SplittableRandom(12345);  // the world is the same for every seed
        for (int i = 0; i < ANIMALS.length; i++) {
            animals.add(new Animal(ANIMALS[i], COLOURS[facts.nextInt(COLOURS.length)], HOMES[facts.nextInt(HOMES.length)],
                    FOODS[facts.nextInt(FOODS.length)], ANIMALS[(i + 1 + facts.nextInt(ANIMALS.length - 1)) % ANIMALS.length]));
        }
    }

    /** {@code paragraphs} paragraphs separated by blank lines. */
    public String generate(int paragraphs) {
        StringBuilder text = new StringBuilder();
        for (int p = 0; p < paragraphs; p++) {
            if (p > 0) text.append("\n\n");
            text.append(random.nextInt(4) == 0 ? arithmetic() : story());
        }
        return text.append('\n').toString();
    }

    private String story() {
        Animal a = animals.get(random.nextInt(animals.size()));
        List<String> sentences = new ArrayList<>();
        sentences.add("the " + a.colour() + " " + a.name() + " lives in the " + a.home() + ".");
        int more = 2 + random.nextInt(4);
        for (int i = 0; i < more; i++) {
            sentences.add(switch (random.nextInt(7)) {
                case 0 -> "every day the " + a.name() + " eats " + a.food() + ".";
                case 1 -> "the " + a.name() + " is friends with the " + a.friend() + ".";
                case 2 -> "where does the " + a.name() + " live? in the " + a.home() + ".";
                case 3 -> "what does the " + a.name() + " eat? " + a.food() + ".";
                case 4 -> "what colour is the " + a.name() + "? " + a.colour() + ".";
                case 5 -> {
                    Animal f = find(a.friend());
                    yield "the " + a.name() + " visits the " + f.name() + " in the " + f.home() + ".";
                }
                default -> "the " + a.name() + " and the " + a.friend() + " share " + a.food() + ".";
            });
        }
        return String.join(" ", sentences);
    }

    private String arithmetic() {
        List<String> sums = new ArrayList<>();
        int count = 2 + random.nextInt(3);
        for (int i = 0; i < count; i++) {
            int x = random.nextInt(10), y = random.nextInt(10);
            sums.add(x + " plus " + y + " is " + (x + y) + ".");
        }
        return String.join(" ", sums);
    }

    private Animal find(String name) {
        for (Animal a : animals) if (a.name().equals(name)) return a;
        throw new IllegalStateException(name);
    }
}
