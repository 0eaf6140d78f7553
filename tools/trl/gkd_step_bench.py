"""The on-policy GKD step of TRL's GKDTrainer on PyTorch CPU, timed like `retort bench gkd`.

Same shapes and settings as Retort's benchmark: a random Llama teacher (dim 288, 6 layers, 6 heads, MLP 768,
vocab 32000), a random student of 3 such layers, B = 8 prompts of 32 random tokens, 64 sampled tokens each
(lambda = 1: every step on-policy, temperature 1, no top-k/top-p), generalised JSD with beta 0.5. The step is
timed with a callback; generation (`generate_on_policy_outputs`) and the teacher's forward are timed by
wrapping them, the rest is the student update. Prints medians over the timed steps (the first two are warm-up).

    python3 -m venv V && V/bin/pip install torch transformers trl datasets
    V/bin/python tools/trl/gkd_step_bench.py --tokenizer ../shared/assets/llama2-tokenizer --threads 1
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch
from datasets import Dataset
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, TrainerCallback
from trl.experimental.gkd import GKDConfig, GKDTrainer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", required=True, help="a 32000-token tokenizer directory (tokenizer.json)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    def config(layers):
        return LlamaConfig(vocab_size=32000, hidden_size=288, intermediate_size=768, num_hidden_layers=layers,
                           num_attention_heads=6, num_key_value_heads=6, max_position_embeddings=a.prompt_tokens + a.new_tokens,
                           tie_word_embeddings=True, bos_token_id=None, eos_token_id=None, pad_token_id=0)

    teacher, student = LlamaForCausalLM(config(6)).eval(), LlamaForCausalLM(config(3))
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(a.tokenizer, "tokenizer.json"), pad_token="<unk>")

    g = torch.Generator().manual_seed(1)

    def collate(rows):
        # a dataset row: prompt + a completion of the sampled length (only its labels count: the trainer normalises
        # the loss by them, and the on-policy step replaces the completion with the student's own)
        prompts = torch.randint(3, 32000, (len(rows), a.prompt_tokens), generator=g)
        full = torch.cat([prompts, torch.randint(3, 32000, (len(rows), a.new_tokens), generator=g)], dim=1)
        labels = full.clone()
        labels[:, :a.prompt_tokens] = -100
        return {"prompts": prompts, "prompt_attention_mask": torch.ones_like(prompts), "input_ids": full,
                "attention_mask": torch.ones_like(full), "labels": labels}

    total = a.steps + 2
    data = Dataset.from_dict({"messages": [[{"role": "user", "content": "x"}]] * (a.batch * total)})
    args = GKDConfig(output_dir="/tmp/trl-gkd-bench", per_device_train_batch_size=a.batch, max_steps=total, lmbda=1.0,
                     beta=0.5, temperature=1.0, max_new_tokens=a.new_tokens, learning_rate=1e-4, report_to=[],
                     use_cpu=True, logging_steps=1000, save_strategy="no", dataloader_num_workers=0,
                     dataset_kwargs={"skip_prepare_dataset": True})

    times = {"generation": [], "teacher": [], "step": []}
    current = {"generation": 0.0, "teacher": 0.0}

    original_generate = GKDTrainer.generate_on_policy_outputs

    def timed_generate(model, inputs, generation_config):
        generation_config.min_new_tokens = a.new_tokens   # every response full length, as in retort's benchmark
        t = time.perf_counter()
        out = original_generate(model, inputs, generation_config)
        current["generation"] += time.perf_counter() - t
        return out

    GKDTrainer.generate_on_policy_outputs = staticmethod(timed_generate)
    teacher_forward = teacher.forward

    def timed_teacher(*args, **kwargs):
        t = time.perf_counter()
        out = teacher_forward(*args, **kwargs)
        current["teacher"] += time.perf_counter() - t
        return out

    teacher.forward = timed_teacher

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *args, **kwargs):
            current["generation"] = current["teacher"] = 0.0
            current["start"] = time.perf_counter()

        def on_step_end(self, *args, **kwargs):
            times["step"].append(time.perf_counter() - current["start"])
            times["generation"].append(current["generation"])
            times["teacher"].append(current["teacher"])

    trainer = GKDTrainer(model=student, teacher_model=teacher, args=args, train_dataset=data, processing_class=tokenizer,
                         data_collator=collate, callbacks=[StepTimer()])
    trainer.train()
    step = statistics.median(times["step"][2:])
    gen = statistics.median(times["generation"][2:])
    teach = statistics.median(times["teacher"][2:])
    print(f"torch {torch.__version__} trl gkd threads={a.threads} B={a.batch} prompt={a.prompt_tokens} new={a.new_tokens}: "
          f"step {step * 1e3:.0f} ms = generation {gen * 1e3:.0f} + teacher scoring {teach * 1e3:.0f} "
          f"+ student update {(step - gen - teach) * 1e3:.0f}")
    print(f"{a.batch * a.new_tokens / step:.0f} tokens/s")


if __name__ == "__main__":
    main()
