"""Golden renderings of chat templates, made by transformers' own apply_chat_template.

Retort renders a model's chat_template (tokenizer_config.json) with jinjava; its test
(models/src/test/.../ChatTemplateTest) checks that the text is exactly what transformers renders
for the same template, conversation and add_generation_prompt. Run once, commit the JSON:

    python3 -m venv V && V/bin/pip install transformers
    V/bin/python tools/chat/make_chat_golden.py ../shared/assets/llama3-tokenizer \
        models/src/test/resources/golden/chat-templates.json
"""
import json
import sys

from transformers import AutoTokenizer

# The templates as their models ship them (Meta-Llama-3-8B-Instruct; ChatML as Qwen-style models use it,
# with a default system prompt; and a Mistral/Llama-2-style one that checks the role order with raise_exception).
TEMPLATES = {
    "llama3": (
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
    ),
    "chatml": (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
        "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    "alternating": (
        "{{ bos_token }}{% for message in messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}"
    ),
}

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello. How can I help?"},
     {"role": "user", "content": "  Tell me a story.  "}],
    [{"role": "system", "content": "You answer in one word."}, {"role": "user", "content": "Sky colour?"},
     {"role": "assistant", "content": "Blue."}],
    [{"role": "user", "content": "Ünïcode — “quotes”, tabs\tand\nnew lines"}, {"role": "assistant", "content": "ok"}],
]


def main(tokenizer_dir, out):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    cases = []
    for name, template in TEMPLATES.items():
        for messages in CONVERSATIONS:
            for add_generation_prompt in (False, True):
                try:
                    text = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                                         add_generation_prompt=add_generation_prompt)
                    error = None
                except Exception as e:  # raise_exception in the template
                    text, error = None, str(e)
                cases.append({"template": name, "messages": messages, "add_generation_prompt": add_generation_prompt,
                              "rendered": text, "error": error})
    golden = {"generator": "tools/chat/make_chat_golden.py", "bos_token": tokenizer.bos_token,
              "eos_token": tokenizer.eos_token, "templates": TEMPLATES, "cases": cases}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
