"""The read model between the worker's output topics and their readers: the view that reads the
output records and sums the partitions' partials (``view``), and the figures computed from it
(``queries``: queue tiles, intervals, quality, staffing). Used by the API and by the worker's
queue alerts; it imports the domain layer and nothing of ``api`` or ``streams``."""
