"""The bad-input soak (`tests/test_soak.py`): the real server as a second process, raw HTTP/1.1
exchanges, the raw cases, Schemathesis's negative data, and the tally of what came back."""
