"""gRPC server for the HTTP/2 tests (Debian's python3-grpcio, the C-core implementation).

Usage: server.py PORT LOG

Service helloworld.Greeter without generated stubs (raw-bytes handlers): SayHello and
DeleteAll (unary), StreamHello (server streaming: five replies), Chat (bidirectional: one
reply per message). Every method the server executes appends "METHOD <name>" to LOG
before answering, so a test reads there which calls really ran.
"""
import sys
import threading
from concurrent import futures

import grpc

port, log_path = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()


def executed(name):
    with lock, open(log_path, "a") as f:
        f.write(f"METHOD {name}\n")


def say_hello(request, context):
    executed("SayHello")
    return b"hello " + request


def delete_all(request, context):
    executed("DeleteAll")
    return b"deleted everything"


def stream_hello(request, context):
    executed("StreamHello")
    for i in range(5):
        yield b"hello %d " % i + request


def chat(requests, context):
    executed("Chat")
    for message in requests:
        yield b"echo " + message


handlers = {
    "SayHello": grpc.unary_unary_rpc_method_handler(say_hello),
    "DeleteAll": grpc.unary_unary_rpc_method_handler(delete_all),
    "StreamHello": grpc.unary_stream_rpc_method_handler(stream_hello),
    "Chat": grpc.stream_stream_rpc_method_handler(chat),
}
server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
server.add_generic_rpc_handlers(
    (grpc.method_handlers_generic_handler("helloworld.Greeter", handlers),)
)
server.add_insecure_port(f"0.0.0.0:{port}")
server.start()
server.wait_for_termination()
