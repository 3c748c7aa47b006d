"""A small IMAP4rev1 server for the mail command's tests: one mailbox held in memory, served over a real socket to
Python's `imaplib` (the client `meridian mail ingest --imap` uses). It speaks what that client sends — CAPABILITY,
LOGIN, SELECT, UID SEARCH (UNSEEN, UNFLAGGED), UID FETCH (BODY.PEEK[]), UID STORE +FLAGS, LOGOUT — and records the
commands, so a test can say what the command did to the mailbox."""

from __future__ import annotations

import re
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Message:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


@dataclass
class Mailbox:
    user: str = "desk"
    password: str = "secret"
    folder: str = "INBOX"
    messages: list[Message] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def add(self, raw: bytes, *flags: str) -> Message:
        message = Message(uid=len(self.messages) + 1, raw=raw, flags=set(flags))
        self.messages.append(message)
        return message


class _Handler(socketserver.StreamRequestHandler):
    mailbox: Mailbox

    def send(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        box = self.server.mailbox  # type: ignore[attr-defined]
        self.send("* OK IMAP4rev1 test server ready")
        while line := self.rfile.readline():
            tag, _, rest = line.decode().strip().partition(" ")
            command, _, arguments = rest.partition(" ")
            command = command.upper()
            box.commands.append(f"{command} {arguments}".strip())
            if command == "CAPABILITY":
                self.send("* CAPABILITY IMAP4rev1")
            elif command == "LOGIN":
                if [word.strip('"') for word in arguments.split()] != [box.user, box.password]:
                    self.send(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials")
                    continue
            elif command == "SELECT":
                if arguments.strip('"') != box.folder:
                    self.send(f"{tag} NO no such mailbox")
                    continue
                self.send(f"* {len(box.messages)} EXISTS")
            elif command == "UID":
                self.uid(box, tag, arguments)
                continue
            elif command == "LOGOUT":
                self.send("* BYE")
                self.send(f"{tag} OK LOGOUT completed")
                return
            else:
                self.send(f"{tag} BAD unknown command")
                continue
            self.send(f"{tag} OK {command} completed")

    def uid(self, box: Mailbox, tag: str, arguments: str) -> None:
        verb, _, rest = arguments.partition(" ")
        verb = verb.upper()
        if verb == "SEARCH":
            wanted = rest.upper().split()
            found = [
                m.uid
                for m in box.messages
                if ("UNSEEN" not in wanted or "\\Seen" not in m.flags)
                and ("UNFLAGGED" not in wanted or "\\Flagged" not in m.flags)
            ]
            self.send("* SEARCH" + "".join(f" {uid}" for uid in found))
        elif verb == "FETCH":
            uid = int(rest.split()[0])
            message = next(m for m in box.messages if m.uid == uid)
            self.wfile.write(f"* {uid} FETCH (UID {uid} BODY[] {{{len(message.raw)}}}\r\n".encode())
            self.wfile.write(message.raw + b")\r\n")
        elif verb == "STORE":
            match = re.match(r"(\d+) \+FLAGS \((.*)\)", rest)
            assert match, rest
            message = next(m for m in box.messages if m.uid == int(match[1]))
            message.flags |= set(match[2].split())
            self.send(f"* {message.uid} FETCH (FLAGS ({' '.join(sorted(message.flags))}))")
        else:
            self.send(f"{tag} BAD unknown UID command")
            return
        self.send(f"{tag} OK UID {verb} completed")


class ImapServer:
    """`with ImapServer(mailbox) as port:` serves the mailbox on 127.0.0.1:port until the block ends."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.mailbox = mailbox  # type: ignore[attr-defined]

    def __enter__(self) -> int:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.server_address[1])

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
