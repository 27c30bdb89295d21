"""The Simple Repository API (PEP 503 HTML, PEP 691 JSON, PEP 592 yanked, PEP 658/714 metadata,
PEP 700 versions), pure: what seckb's package index reads from its upstream and writes back.

* :mod:`.pages` holds a project page and its files, and reads upstream pages (JSON or HTML);
* :mod:`.filenames` tells which version a distribution file is;
* :mod:`.render` writes pages as JSON or HTML and negotiates between them by ``Accept``;
* :mod:`.gate` applies the policy's verdicts to a page: blocked files yanked or left out.
"""
