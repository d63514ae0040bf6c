from storefront.core.errors import Conflict, NotFound


class ReportNotFound(NotFound):
    default_detail = "The report does not exist."


class ReportNotReady(Conflict):
    code = "REPORT_NOT_READY"
    default_detail = "The report has not been built yet."


class ReportFileMissing(NotFound):
    code = "REPORT_FILE_MISSING"
    default_detail = "The report's file is no longer stored; request the report again."
