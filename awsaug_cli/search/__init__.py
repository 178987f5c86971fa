"""Stage 2's method, below the command: the loop (loop.py) over fine-tunes from the shared
weights (finetune.py, rewarded by rewards.py) in a search space (spaces.py); awsaug's default
agent (critic_agent.py, over the pooled critic of critic.py, with ops identical on the data
judged as one: equivalent_ops.py) and the paper's (paper_agent.py); the verdict on an answer
(verdict.py) with its closing comparison on the proxy (proxy_scores.py); and the search's files
in a run directory (run_state.py), which the exports, figures and commands read."""
