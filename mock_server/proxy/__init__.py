"""`recoup-mock proxy`: the contract's judge (`contract_judge`) in front of a real upstream.

`app` forwards and judges, `forwarding` is what a proxy changes of a message, `findings` what was
seen and the report, `cli` the command's flags.
"""
