"""The built-in demo data: two artists' accounts, with an idle chat, a chat whose agent answer is
streaming until someone stops it, and chats whose stops fail the ways the service's can."""

from __future__ import annotations

from typing import Any

PRESS_RELEASE: list[dict[str, Any]] = [
    {"type": "reasoning", "text": "A press release needs the tour dates first; I will look them up."},
    {
        "type": "tool",
        "name": "get_tour_dates",
        "input": {"artist": "artist-a", "year": 2027},
        "output": {
            "dates": [{"city": "Berlin", "date": "2027-03-04"}, {"city": "Lisbon", "date": "2027-03-09"}]
        },
        "seconds": 3,
    },
    {"type": "data", "name": "status", "data": {"step": "writing", "progress": 0.5}},
    {
        "type": "text",
        "text": "FOR IMMEDIATE RELEASE. The tour opens in Berlin on March 4 and goes on to Lisbon. "
        "This press release keeps streaming until someone presses Stop.",
        "repeat": True,
    },
]

DEMO_SEED: dict[str, Any] = {
    "accounts": [
        {
            "id": "artist-a",
            "api_keys": ["demo-key-a"],
            "sessions": [
                {
                    "id": "aaaaaaaa-0000-4000-8000-000000000001",
                    "title": "Release plan",
                    "chats": [
                        {
                            "id": "11111111-1111-4111-8111-111111111111",
                            "title": "Idle chat",
                            "messages": [
                                {"role": "user", "text": "Which cities should the tour start in?"},
                                {
                                    "role": "assistant",
                                    "text": "Start where streams grew fastest: Berlin, then Lisbon.",
                                },
                            ],
                        },
                        {
                            "id": "22222222-2222-4222-8222-222222222222",
                            "title": "Generating chat",
                            "messages": [{"role": "user", "text": "Write a long press release."}],
                            "generating": {"parts": PRESS_RELEASE},
                        },
                        {
                            "id": "55555555-5555-4555-8555-555555555504",
                            "title": "Stop times out (504)",
                            "generating": {
                                "text": "This answer ignores Stop; the stop answers 504 after its timeout.",
                                "fault": "ignore-cancel",
                            },
                        },
                        {
                            "id": "55555555-5555-4555-8555-555555555502",
                            "title": "Stop fails (502)",
                            "generating": {
                                "text": "Stopping this answer fails; the stop answers 502.",
                                "fault": "cancel-fails",
                            },
                        },
                    ],
                }
            ],
        },
        {
            "id": "artist-b",
            "api_keys": ["demo-key-b"],
            "sessions": [
                {
                    "id": "bbbbbbbb-0000-4000-8000-000000000001",
                    "title": "Merch ideas",
                    "chats": [{"id": "33333333-3333-4333-8333-333333333333", "title": "B's chat"}],
                }
            ],
        },
    ]
}
