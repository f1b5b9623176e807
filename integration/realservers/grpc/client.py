"""gRPC client for the HTTP/2 tests: every call on ONE channel (one HTTP/2 connection).

Usage: client.py HOST:PORT

Prints one JSON object: for each call its gRPC status code name and details (or the
replies), in this order: SayHello, DeleteAll, SayHello again (the connection survives a
denied call), StreamHello (server streaming), Chat (bidirectional), then 50 concurrent
SayHello calls with a DeleteAll in the middle ("concurrent": codes of all 51).
"""
import json
import sys
from concurrent import futures

import grpc

target = sys.argv[1]
# One subchannel, no retries: every call rides the same connection, a denial is seen as is.
options = [("grpc.enable_retries", 0), ("grpc.use_local_subchannel_pool", 1)]
channel = grpc.insecure_channel(target, options=options)
say = channel.unary_unary("/helloworld.Greeter/SayHello")
delete = channel.unary_unary("/helloworld.Greeter/DeleteAll")
stream = channel.unary_stream("/helloworld.Greeter/StreamHello")
chat = channel.stream_stream("/helloworld.Greeter/Chat")


def call(fn):
    try:
        value = fn()
        if isinstance(value, bytes):
            value = value.decode()
        elif value is not None:
            value = [v.decode() for v in value]
        return {"code": "OK", "value": value}
    except grpc.RpcError as e:
        return {"code": e.code().name, "details": e.details()}


out = {
    "say": call(lambda: say(b"one", timeout=5)),
    "delete": call(lambda: delete(b"all", timeout=5)),
    "say_again": call(lambda: say(b"two", timeout=5)),
    "stream": call(lambda: list(stream(b"s", timeout=5))),
    "chat": call(lambda: list(chat(iter([b"a", b"b", b"c"]), timeout=5))),
}
with futures.ThreadPoolExecutor(max_workers=8) as pool:
    calls = [say.future(b"c%d" % i, timeout=10) for i in range(25)]
    calls.append(delete.future(b"middle", timeout=10))
    calls += [say.future(b"c%d" % i, timeout=10) for i in range(25, 50)]
    codes = []
    for c in calls:
        try:
            c.result()
            codes.append("OK")
        except grpc.RpcError as e:
            codes.append(e.code().name)
out["concurrent"] = codes
print(json.dumps(out))
