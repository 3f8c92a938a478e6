using System.ComponentModel;
using System.Globalization;

namespace TaskStream.Api;

/// <summary>
/// A list setting (write tokens, trusted proxies): an array (<c>…:0</c>, <c>…:1</c>) or one value without an index,
/// which is one entry. The configuration binder ignores a plain value given for an array (so
/// <c>TaskStream__Auth__WriteTokens=x</c> would silently do nothing); it converts one for this type.
/// </summary>
[TypeConverter(typeof(OneValueConverter))]
internal sealed class SettingList : List<string>
{
    private sealed class OneValueConverter : TypeConverter
    {
        public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string);

        public override object ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) => new SettingList { (string)value };
    }
}
