"""Generate a large, valid fleet for benchmarks: N agents, N tools, M numbers.

    python bench/generate.py OUT_DIR --agents 1000 --tools 1000 --numbers 500

Agents are spread over one file per 10 agents (as a team would split them), each with its own
prompt, greeting, tools, return schema reference and context, so nothing is trivially cached.
"""

from __future__ import annotations

import argparse
from pathlib import Path

AGENT = """\
---
apiVersion: cb/v1
kind: Agent
metadata:
  name: agent-{i:04d}
  labels: {{team: team-{team}, region: {region}}}
  description: Benchmark agent {i}.
spec:
  voice: en_US-joe-medium
  greeting: "Thanks for calling {{{{ business }}}} location {i}. How can I help{{% if customer.first_name %}}, {{{{ customer.first_name }}}}{{% endif %}}?"
  instructions: |
    You are the assistant of {{{{ business }}}}, branch number {i} in {region}.
    Answer questions about opening hours and services, and book appointments with tool-{t1:04d}.
    {{% if vip %}}This caller is a VIP: offer the first available slot.{{% endif %}}
    Keep replies under two sentences. Agent {i}.
  pipeline:
    turn: {{vad_stop_secs: 0.2}}
  tools: [tool-{t1:04d}, tool-{t2:04d}, end_call]
  returns: returns-{team}
  compliance: [policy-{team}]
  phone: {{voicemail: leave_message, voicemail_message: "Please call {{{{ business }}}} back.", max_duration_sec: 600}}
  webhook:
    url: https://hooks.example.com/calls/{i}
    secret: ${{env:WEBHOOK_SECRET_{team}}}
  context:
    business: {{type: string, default: "Acme {i}"}}
    customer: {{type: object, default: {{}}}}
    vip: {{type: boolean, default: false}}
"""

TOOL = """\
---
apiVersion: cb/v1
kind: Tool
metadata: {{name: tool-{i:04d}}}
spec:
  description: Benchmark tool {i}.
  parameters:
    type: object
    properties:
      slot: {{type: string, format: date-time}}
      note: {{type: string, maxLength: {n}}}
    required: [slot]
  http:
    url: https://api.example.com/tools/{i}
    headers: {{Authorization: "Bearer ${{env:TOOL_TOKEN}}"}}
    timeout_ms: 3000
    retries: 1
  filler: {{phrase: "One moment please.", delay_ms: 900}}
"""

NUMBER = """\
---
apiVersion: cb/v1
kind: Number
metadata: {{name: number-{i:04d}}}
spec:
  number: "+1415{i:07d}"
  provider: local
  agent: agent-{a:04d}
"""

SHARED = """\
---
apiVersion: cb/v1
kind: ReturnSchema
metadata: {{name: returns-{t}}}
spec:
  schema:
    type: object
    properties:
      intent: {{type: string}}
      appointment_at: {{type: [string, "null"], format: date-time}}
    required: [intent]
---
apiVersion: cb/v1
kind: CompliancePolicy
metadata: {{name: policy-{t}}}
spec:
  calling_windows: [{{days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00"}}]
  attempts: {{max_per_number: 3, window_hours: 24}}
"""

HEADER = "# yaml-language-server: $schema=../../schemas/cb.json\n"


def generate(out: Path, agents: int, tools: int, numbers: int, teams: int = 10) -> None:
    folder = out / "agents"
    folder.mkdir(parents=True, exist_ok=True)
    (out / "cb.yaml").write_text(f"apiVersion: cb/v1\nkind: Project\nname: bench\npaths: [agents]\n")
    (folder / "shared.yaml").write_text(HEADER + "".join(SHARED.format(t=t) for t in range(teams)))
    for start in range(0, agents, 10):
        body = "".join(
            AGENT.format(i=i, team=i % teams, region=f"r{i % 7}", t1=i % tools, t2=(i * 7 + 3) % tools)
            for i in range(start, min(start + 10, agents)))
        (folder / f"agents-{start // 10:03d}.yaml").write_text(HEADER + body)
    for start in range(0, tools, 50):
        body = "".join(TOOL.format(i=i, n=100 + i) for i in range(start, min(start + 50, tools)))
        (folder / f"tools-{start // 50:03d}.yaml").write_text(HEADER + body)
    body = "".join(NUMBER.format(i=i, a=i % agents) for i in range(numbers))
    (folder / "numbers.yaml").write_text(HEADER + body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--tools", type=int, default=1000)
    parser.add_argument("--numbers", type=int, default=500)
    args = parser.parse_args()
    generate(args.out, args.agents, args.tools, args.numbers)
    print(f"wrote {args.agents} agents, {args.tools} tools, {args.numbers} numbers to {args.out}")


if __name__ == "__main__":
    main()
