-- wrk: joins without a ticket, so every request is a new visitor with a new number.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = "{}"
