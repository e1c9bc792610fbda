"""Every Redis key the service uses, built in one place.

Routing state (calls, agents, event dedupe) shares the hash tag `{cc}` so the multi-key Lua
scripts that move it stay in one Redis Cluster slot. Per-caller data carries the caller as
its own hash tag and spreads across slots; each caller's keys stay together.

Owners and lifetimes:
- `{cc}:call:<id>`            versioned call document; TTL while active, retention once ended
- `{cc}:calls:<state>`        sorted set of call ids by last change; owned by the call commits,
                              the `ended` set is trimmed to the call retention on every end
- `{cc}:agent:<id>`           versioned agent document; owned by the agents API (DELETE)
- `{cc}:agents`               set of agent ids; owned by the agents API
- `{cc}:seen:<event_id>`      event dedupe marker; TTL = dedupe window
- `{cc}:waiting`              hash call id → routing ticket of every queued call; owned by
                              the call commits (set on entering `queued`, removed on leaving)
- `{cc}:line:<kind>:<channel>:<name>` sorted set (all scores 0; member = place in line + call
                              id, byte order = routing order) of the queued calls of a queue
                              (kind q) or a rule (kind r) on a channel; owned by the call
                              commits, with the `waiting` hash
- `{cc}:arrivals:q:<channel>:<queue>` sorted set of the queued calls of a queue line by
                              arrival (score = place in line, Unix seconds): its oldest at
                              the head, for the scrape; owned with the lines
- `{cc}:lines`                set of the line ids that may have calls; an empty line's id is
                              removed by the dispatch read that finds it empty
- `{cc}:lines:joined`         hash line id → "<change count> <ticket>": the task whose joining
                              made the line's change count (`{cc}:lines:changes`); owned by
                              the call commits, with the count (parked agents look at it)
- `{cc}:lines:built`          marker: the lines hold every queued call (built once at start
                              from `waiting` on a store written before lines existed)
- `{cc}:skill:<skill>`        set of the ids of the agents with a skill (any proficiency);
                              owned by the agent commits, for staffing one queue without
                              reading every agent
- `{cc}:skills:built`         marker: the skill sets hold every agent (built once at start
                              from `agents` on a store written before they existed)
- `{cc}:ready`                set of agent ids available and idle; owned by the agent commits
- `{cc}:ready:voice`          set of agent ids available, on a call and with room for text
                              (for queues with `text_during_voice`); owned by the agent commits
- `{cc}:timers`               sorted set of due timers (member "kind:ids", score = due time);
                              owned by the timer loop, which removes each after handling it
- `{cc}:sweep`                whose turn the invariant sweep is (an instance id); TTL = the
                              sweep period, so one instance sweeps per period
- `{cc}:dispatch:turn`        the instance running dispatch passes; TTL 2 s, renewed per pass
- `{cc}:dispatch:owed`        a pass was asked for while another instance held the turn
- `{cc}:reservation:<id>`     reservation id → call id; TTL = reservation + grace
- `{cc}:decision:<call_id>`   the last routing decision with its explanation; TTL = retention
- `{cc}:callback:<caller>:<queue>` versioned pointer to the caller's latest callback asked
                              for in a queue (a repeated request returns that one); TTL 60 days
- `{cc}:messages:<task_id>`   the conversation of a text task (JSON messages, newest last,
                              capped); written with the task's commit; TTL = call retention
- `{cc}:open:<channel>:<who>` versioned pointer to the customer's open conversation on a
                              channel (an SMS number, an email address); TTL 60 days
- `{cc}:thread:<message_id>`  an email Message-ID seen in a conversation → the task id;
                              TTL = call retention
- `{cc}:msgseen:<channel>:<id>` an inbound message already taken (redelivery guard); TTL =
                              dedupe window
- `cc:caller:{<key>}:profile` CRM profile document; owned by the callers API (DELETE)
- `cc:caller:{<key>}:history` call history document; TTL = history retention
- `{cc}:contacts:<day>`       HyperLogLog of the customers with a finished contact that day
                              (any channel; the retention gauge); TTL 30 days
- `cc:alias:{<identity>}`     another identity of a customer → the record's key; owned by
                              the record's profile (its `identities`), erased with it
- `cc:transcript:{<call_id>}` capped stream of final utterances; TTL = call retention
- `cc:mood:{<call_id>}`       the call's final sentiment so far (a float); TTL = call retention
- `cc:{bus}:seq`               the event bus sequence number (INCR per event)
- `cc:{bus}:log`               capped stream of the latest bus events, id = sequence number
- `cc:{bus}:epoch`             the bus epoch: a new one whenever the sequence went back
- `cc:bus` (pub/sub channel)   every bus event, as published
- `cc:alerts`                  capped stream of the latest alerts (the wallboard's feed)
- `cc:alert:{<call_id>}:<rule>` marks an alert rule fired for a call; TTL = call retention
- `cc:alerts:acked`            hash alert id → who acknowledged it and when; trimmed with the feed
- `cc:livemood:{<call_id>}`   hash speaker → the speaker's latest mood; TTL = call retention
- `cc:qday:<day>:<queue>`     today's answered / in-SL / abandoned / wait sum; TTL 2 days
- `cc:{qact}:min:<minute>`    one minute's traffic of every queue (field `<counter>:<queue>`);
                              TTL 2 hours (`<minute>`: Unix time // 60)
- `cc:{qact}:points:<minute>` one minute's outlook of every queue (field = queue), the
                              wallboard's charts; TTL 2 hours
- `cc:{qact}:tick:<n>`        which instance publishes outlook tick n; TTL a minute
- `cc:{qact}:board`           every queue's latest outlook (what scrapes report); TTL a minute
- `cc:token:<id>`             hashed API token; owned by `tokens` (revoke), optional TTL
- `cc:tokens`                 set of token ids; owned by `tokens`
- `cc:secret:<name>`          a signing key made once for every instance (chat sessions);
                              no TTL, owned by the deployment
- `cc:sig:<digest>`           webhook signature replay marker; TTL = 2 x tolerance
- `cc:chatstarts:<address>`   new web chats from one client address this minute; TTL 60 s
- `cc:typing:<task_id>:<who>` a chat's typing announced this second (who: agent, customer);
                              TTL 1 s
"""

from __future__ import annotations

PREFIX = "cc"
ROUTING = "{cc}"
AGENTS = f"{ROUTING}:agents"
TOKENS = f"{PREFIX}:tokens"
WAITING = f"{ROUTING}:waiting"
LINES = f"{ROUTING}:lines"
LINES_BUILT = f"{ROUTING}:lines:built"
SKILLS_BUILT = f"{ROUTING}:skills:built"
LINES_EPOCH = f"{ROUTING}:lines:epoch"  # how often the set of lines changed
LINE_CHANGES = f"{ROUTING}:lines:changes"  # line id -> how often tasks joined or changed in it
LINE_VERSIONS = f"{ROUTING}:lines:versions"  # line id -> how often it was written at all
# line id -> "<change count> <ticket>": the task whose joining made that change count
LINE_JOINED = f"{ROUTING}:lines:joined"
READY = f"{ROUTING}:ready"
READY_ON_VOICE = f"{ROUTING}:ready:voice"
TIMERS = f"{ROUTING}:timers"
SWEEP_TURN = f"{ROUTING}:sweep"
DISPATCH_TURN = f"{ROUTING}:dispatch:turn"
DISPATCH_OWED = f"{ROUTING}:dispatch:owed"
BUS_SEQ = f"{PREFIX}:{{bus}}:seq"
BUS_LOG = f"{PREFIX}:{{bus}}:log"
BUS_EPOCH = f"{PREFIX}:{{bus}}:epoch"
BUS_CHANNEL = f"{PREFIX}:bus"
ALERTS = f"{PREFIX}:alerts"
ALERTS_ACKED = f"{PREFIX}:alerts:acked"
OUTLOOK_BOARD = f"{PREFIX}:{{qact}}:board"


def skill(name: str) -> str:
    return f"{ROUTING}:skill:{name}"


def call(call_id: str) -> str:
    return f"{ROUTING}:call:{call_id}"


def calls_in_state(state: str) -> str:
    return f"{ROUTING}:calls:{state}"


def agent(agent_id: str) -> str:
    return f"{ROUTING}:agent:{agent_id}"


def event_seen(event_id: str) -> str:
    return f"{ROUTING}:seen:{event_id}"


def reservation(reservation_id: str) -> str:
    return f"{ROUTING}:reservation:{reservation_id}"


def callback_claim(caller_key: str, queue: str) -> str:
    return f"{ROUTING}:callback:{caller_key}:{queue}"


def task_messages(task_id: str) -> str:
    return f"{ROUTING}:messages:{task_id}"


def open_task(channel: str, who: str) -> str:
    return f"{ROUTING}:open:{channel}:{who}"


def email_thread(message_id: str) -> str:
    return f"{ROUTING}:thread:{message_id}"


def message_seen(channel: str, external_id: str) -> str:
    return f"{ROUTING}:msgseen:{channel}:{external_id}"


def line(line_id: str) -> str:
    return f"{ROUTING}:line:{line_id}"


def arrivals(line_id: str) -> str:
    return f"{ROUTING}:arrivals:{line_id}"


def decision(call_id: str) -> str:
    return f"{ROUTING}:decision:{call_id}"


def _caller_tag(caller_key: str) -> str:
    # Braces would break the hash tag; they never occur in phone numbers or SIP URIs.
    return caller_key.replace("{", "(").replace("}", ")")


def caller_profile(caller_key: str) -> str:
    return f"{PREFIX}:caller:{{{_caller_tag(caller_key)}}}:profile"


def caller_history(caller_key: str) -> str:
    return f"{PREFIX}:caller:{{{_caller_tag(caller_key)}}}:history"


def contacts_on(day: str) -> str:
    return f"{ROUTING}:contacts:{day}"


def caller_alias(identity: str) -> str:
    return f"{PREFIX}:alias:{{{_caller_tag(identity)}}}"


def transcript(call_id: str) -> str:
    # per-call data spreads across cluster slots (the call id is its own hash tag)
    return f"{PREFIX}:transcript:{{{_caller_tag(call_id)}}}"


def call_mood(call_id: str) -> str:
    return f"{PREFIX}:mood:{{{_caller_tag(call_id)}}}"


def alert_fired(call_id: str, rule: str) -> str:
    return f"{PREFIX}:alert:{{{_caller_tag(call_id)}}}:{rule}"


def live_mood(call_id: str) -> str:
    return f"{PREFIX}:livemood:{{{_caller_tag(call_id)}}}"


def queue_day(day: str, queue: str) -> str:
    return f"{PREFIX}:qday:{day}:{queue}"


def queue_minute(minute: int) -> str:
    # every queue's traffic in one hash per minute, all in one slot: a window is one pipeline
    return f"{PREFIX}:{{qact}}:min:{minute}"


def queue_points(minute: int) -> str:
    return f"{PREFIX}:{{qact}}:points:{minute}"


def outlook_tick(tick: int) -> str:
    return f"{PREFIX}:{{qact}}:tick:{tick}"


def token(token_id: str) -> str:
    return f"{PREFIX}:token:{token_id}"


def signature_seen(digest: str) -> str:
    return f"{PREFIX}:sig:{digest}"


def shared_secret(name: str) -> str:
    return f"{PREFIX}:secret:{name}"


def chat_starts(address: str) -> str:
    return f"{PREFIX}:chatstarts:{address}"


def chat_typing(task_id: str, who: str) -> str:
    return f"{PREFIX}:typing:{task_id}:{who}"
