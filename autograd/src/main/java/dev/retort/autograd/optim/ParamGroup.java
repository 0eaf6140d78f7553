package dev.retort.autograd.optim;

import dev.retort.autograd.Parameter;
import java.util.List;

/** Parameters updated with the same learning-rate multiplier and weight decay. */
public record ParamGroup(List<Parameter> parameters, double lrScale, double weightDecay) {
    public ParamGroup {
        parameters = List.copyOf(parameters);
    }

    public static ParamGroup of(List<Parameter> parameters, double weightDecay) {
        return new ParamGroup(parameters, 1.0, weightDecay);
    }
}
