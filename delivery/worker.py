"""The worker class ``manage.py rqworker`` runs (settings.RQ["WORKER_CLASS"])."""

from django.db import close_old_connections
from rq.worker import SimpleWorker


class DeliveryWorker(SimpleWorker):
    """Runs jobs in the worker process itself, without RQ's fork per job.

    Delivery jobs are short and I/O bound: forking a Django process for each
    costs more than the delivery and throws away the HTTP connection pool.
    Database connections that went stale or broke are closed around every
    job, so a long-lived worker survives database restarts and never meets
    "connection already closed". SIGTERM still lets the job in flight finish
    (RQ's warm shutdown) before the worker exits.
    """

    def perform_job(self, job, queue):
        close_old_connections()
        try:
            return super().perform_job(job, queue)
        finally:
            close_old_connections()
