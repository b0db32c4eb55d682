NAV_ITEMS = [
    ("Approvals", "approvals:queue", "approvals.review_queue"),
    ("Approval history", "approvals:history", "approvals.view"),
]
