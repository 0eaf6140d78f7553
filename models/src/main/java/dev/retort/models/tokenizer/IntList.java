package dev.retort.models.tokenizer;

import java.util.Arrays;

/** A growable list of ints, for collecting token ids without boxing. */
final class IntList {

    private int[] values = new int[16];
    private int size;

    void add(int value) {
        if (size == values.length) {
            values = Arrays.copyOf(values, size * 2);
        }
        values[size++] = value;
    }

    void addAll(int[] more) {
        for (int value : more) {
            add(value);
        }
    }

    int last() {
        return values[size - 1];
    }

    int size() {
        return size;
    }

    int[] toArray() {
        return Arrays.copyOf(values, size);
    }
}
