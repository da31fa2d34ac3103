"""What the site tells Meisa beyond MEISA["CUSTOM_FIELDS"]: the tag rule."""


def tag_names(user):
    """Tags to add to the user's Meisa contact (MEISA["TAG_NAMES"] points here).

    Meisa only ever adds tags, so a churned user keeps ``paying-customer``; the
    ``plan`` custom field is what automations should test for churn.
    """
    return ["paying-customer"] if user.plan != "free" else []
