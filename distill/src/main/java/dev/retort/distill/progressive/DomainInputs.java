package dev.retort.distill.progressive;

import dev.retort.distill.data.Example;
import dev.retort.models.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * The unlabelled domain inputs of a progressive run, as text: of each example of --data only what is not a label.
 * A plain text example (every token after the first a target) is all input; a prompt/response or conversation
 * example gives its prompt alone (the tokens before its first target), so a response in the file is never read.
 */
final class DomainInputs {
    private DomainInputs() {}

    /** The inputs of {@code examples}, decoded without BOS and a closing EOS; blank ones are dropped. */
    static List<String> of(List<Example> examples, Tokenizer tokenizer) {
        List<String> out = new ArrayList<>();
        for (Example e : examples) {
            int[] tokens = e.tokens();
            boolean[] target = e.target();
            int firstTarget = 0;
            while (firstTarget < tokens.length && !target[firstTarget]) firstTarget++;
            boolean plain = firstTarget <= 1 && allTargetsFrom(target, firstTarget);
            int from = tokens.length > 0 && tokens[0] == tokenizer.bosId() ? 1 : 0;
            int to = plain ? tokens.length : firstTarget;
            if (to > from && tokens[to - 1] == tokenizer.eosId()) to--;
            if (to <= from) continue;
            String text = tokenizer.decode(java.util.Arrays.copyOfRange(tokens, from, to), false).strip();
            if (!text.isEmpty()) out.add(text);
        }
        return out;
    }

    /**
     * The held-out part: every round(1/fraction)-th input, as {@link dev.retort.distill.data.PackedData#split}
     * takes rows; [train, held out].
     */
    static List<List<String>> split(List<String> inputs, double fraction) {
        List<String> train = new ArrayList<>(), held = new ArrayList<>();
        int every = fraction == 0 ? Integer.MAX_VALUE : (int) Math.max(2, Math.round(1 / fraction));
        for (int i = 0; i < inputs.size(); i++) (fraction > 0 && i % every == every - 1 ? held : train).add(inputs.get(i));
        return List.of(train, held);
    }

    private static boolean allTargetsFrom(boolean[] target, int from) {
        for (int i = from; i < target.length; i++) if (!target[i]) return false;
        return true;
    }
}
