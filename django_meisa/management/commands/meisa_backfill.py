"""``manage.py meisa_backfill``: sync existing users to Meisa once (thin: parse, run, report)."""

from __future__ import annotations

import datetime as dt
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from django_meisa.backfill import checkpoint
from django_meisa.backfill.chunk import first_payloads
from django_meisa.backfill.options import ENQUEUE, INLINE, MeisaBackfillOptions
from django_meisa.backfill.report import MeisaBackfillResult, format_summary, write_failures_csv
from django_meisa.backfill.run import run_backfill
from django_meisa.backfill.selection import MeisaBackfillSelection, read_ids_file, to_pk
from django_meisa.exceptions import MeisaConfigurationError
from django_meisa.retry import MeisaRetryPolicy

#: Exit status of an interrupted run (as a shell reports a Ctrl-C'd command).
INTERRUPTED_EXIT = 130


def positive_int(value: str) -> int:
    """argparse type: an integer of at least 1."""
    if (number := int(value)) < 1:
        raise ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def positive_float(value: str) -> float:
    """argparse type: a number above 0."""
    if not (number := float(value)) > 0:
        raise ArgumentTypeError(f"must be above 0, not {value}")
    return number


def flag(group: Any, name: str, help: str) -> None:
    """Add a ``store_true`` option."""
    group.add_argument(name, action="store_true", help=help)


def since_datetime(value: str) -> dt.datetime:
    """argparse type: an ISO date or datetime; naive values are in the current time zone."""
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD) or an ISO datetime")
        parsed = dt.datetime.combine(day, dt.time.min)
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


class Command(BaseCommand):
    """Backfill existing users into Meisa; see docs/howto/backfill.md."""

    help = (
        "Sync existing users to Meisa once, with source 'initial_sync'. Resumable "
        "(--resume), rate-limited (--rate), inline (--inline) or through Celery "
        "(--enqueue). Exits non-zero when any user failed; call_command raises "
        "CommandError then."
    )

    # fmt: off
    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the selection, mode, throughput and reporting options."""
        sel = parser.add_argument_group("selection (default: every user)")
        sel.add_argument("--since", type=since_datetime, metavar="DATE",
                         help="Only users joined or changed since DATE (YYYY-MM-DD or ISO).")
        sel.add_argument("--ids", metavar="PK[,PK...]", help="Only these primary keys.")
        sel.add_argument("--ids-file", metavar="PATH",
                         help="Only the primary keys in PATH (one per line, or commas).")
        flag(sel, "--only-unsynced", "Only users never synced successfully.")
        flag(sel, "--exclude-suppressed",
             "Skip users whose email is on the local suppression list.")
        flag(sel, "--exclude-inactive", "Skip users with is_active=False (included by default).")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--inline", dest="mode", action="store_const", const=INLINE,
                          help="Send from this process (default without a real broker).")
        mode.add_argument("--enqueue", dest="mode", action="store_const", const=ENQUEUE,
                          help="Queue chunks for Celery workers (default with a broker).")
        run = parser.add_argument_group("throughput")
        run.add_argument("--concurrency", type=positive_int, default=4,
                         help="Sender threads in --inline mode (default 4).")
        run.add_argument("--rate", type=positive_float, metavar="N",
                         help="At most N requests per second across all threads.")
        run.add_argument("--chunk-size", type=positive_int, default=500,
                         help="Users per chunk, checkpoint and Celery task (default 500).")
        run.add_argument("--retries", type=int, default=MeisaRetryPolicy.retries,
                         help="Retries after a 5xx or timeout before a user counts as failed "
                         "(default 5).")
        flag(run, "--no-wait", "With --enqueue, return once the chunks are queued.")
        out = parser.add_argument_group("behaviour and reporting")
        flag(out, "--force", "Send users whose payload is unchanged since their last sync.")
        flag(out, "--dry-run", "Map and validate every user, report, send nothing.")
        out.add_argument("--show", type=positive_int, metavar="N",
                         help="With --dry-run: first print the JSON the first N users' upserts "
                         "would send.")
        out.add_argument("--resume", nargs="?", const=True, default=False, metavar="RUN",
                         help="Continue the latest unfinished run (or run number RUN).")
        out.add_argument("--failures-csv", metavar="PATH",
                         help="Write each failed user's pk and reason to PATH.")
        out.add_argument("--progress-interval", type=positive_float, default=10.0,
                         metavar="SECONDS", help="Seconds between lines off a TTY.")
    # fmt: on

    def handle(self, *args: Any, **opts: Any) -> None:
        """Run the backfill, print the summary, and raise ``CommandError`` on failures."""
        if opts.get("show"):
            self.show_payloads(opts)
        try:
            result = run_backfill(
                self.build_options(opts),
                stdout=cast(TextIO, self.stdout._out),  # raw stream: the bar draws with \r
                verbosity=opts["verbosity"],
                progress_interval=opts["progress_interval"],
            )
        except (LookupError, MeisaConfigurationError) as err:
            raise CommandError(str(err)) from err
        self.report(result, opts)

    def show_payloads(self, opts: dict[str, Any]) -> None:
        """Print the first ``--show`` users' upsert bodies (or mapping errors); dry runs only."""
        if not opts["dry_run"]:
            raise CommandError("--show prints what a dry run would send: add --dry-run.")
        for preview in first_payloads(self.build_selection(opts), opts["show"]):
            self.stdout.write(f"# user pk={preview.user_pk}")
            if preview.payload is None:
                self.stdout.write(f"mapping failed for field {preview.field}: {preview.error}")
            else:
                self.stdout.write(preview.json)

    def build_options(self, opts: dict[str, Any]) -> MeisaBackfillOptions:
        """Turn the parsed arguments into ``MeisaBackfillOptions``."""
        resume = opts["resume"]
        if resume is not True and resume is not False:
            try:
                resume = int(resume)
            except ValueError:
                raise CommandError(f"--resume takes a run number, not {resume!r}") from None
        return MeisaBackfillOptions(
            selection=self.build_selection(opts),
            mode=opts["mode"],
            chunk_size=opts["chunk_size"],
            concurrency=opts["concurrency"],
            rate=opts["rate"],
            force=opts["force"],
            dry_run=opts["dry_run"],
            resume=resume,
            wait=not opts["no_wait"],
            policy=MeisaRetryPolicy(retries=max(0, opts["retries"])),
        )

    def build_selection(self, opts: dict[str, Any]) -> MeisaBackfillSelection:
        """Turn the selection arguments into a ``MeisaBackfillSelection``."""
        if opts["ids"] and opts["ids_file"]:
            raise CommandError("Use --ids or --ids-file, not both.")
        try:
            raw_ids = opts["ids"].replace(",", " ").split() if opts["ids"] else None
            if opts["ids_file"]:
                raw_ids = read_ids_file(opts["ids_file"])
            ids = None if raw_ids is None else tuple(to_pk(pk) for pk in raw_ids)
        except OSError as err:
            raise CommandError(f"Cannot read --ids-file: {err}") from err
        except Exception as err:
            raise CommandError(f"Not a valid user primary key in the ids: {err}") from err
        flags = ("only_unsynced", "exclude_inactive", "exclude_suppressed")
        return MeisaBackfillSelection(
            ids=ids, ids_file=opts["ids_file"], since=opts["since"], **{f: opts[f] for f in flags}
        )

    def report(self, result: MeisaBackfillResult, opts: dict[str, Any]) -> None:
        """Print the summary, write the CSV, and raise ``CommandError`` unless all went well."""
        if opts["verbosity"] >= 1:
            for line in format_summary(result):
                self.stdout.write(line)
        if opts["failures_csv"]:
            rows = checkpoint.failure_rows(result.run_id)
            written = write_failures_csv(opts["failures_csv"], rows)
            if opts["verbosity"] >= 1:
                self.stdout.write(f"Wrote {written} failed users to {opts['failures_csv']}.")
        if result.interrupted:
            raise CommandError(
                f"Backfill run #{result.run_id} did not finish; continue it with: "
                f"python manage.py meisa_backfill --resume {result.run_id}",
                returncode=INTERRUPTED_EXIT,
            )
        if result.counts.failed:
            raise CommandError(
                f"{result.counts.failed} users failed in backfill run #{result.run_id}"
                + ("" if opts["failures_csv"] else "; list them with --failures-csv PATH")
            )
